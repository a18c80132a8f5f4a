"""tunelab.evaluate"""

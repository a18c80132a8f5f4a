"""tunelab.compare"""

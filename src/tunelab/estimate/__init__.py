"""tunelab.estimate"""

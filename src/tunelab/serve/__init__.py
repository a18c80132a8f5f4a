"""tunelab.serve"""

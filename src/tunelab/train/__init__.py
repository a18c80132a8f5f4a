"""tunelab.train"""

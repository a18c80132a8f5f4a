"""tunelab.synth"""

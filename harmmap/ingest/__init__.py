"""Readers: turn input files into canonical incidents plus rejects."""

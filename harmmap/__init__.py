"""harmmap: find and rank the high-harm places of retail crime in the UK."""

__version__ = "0.1.0"

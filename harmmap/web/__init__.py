"""The Flask web application (``create_app``): maps, rankings and exports over persisted results."""

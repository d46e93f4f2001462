"""Parsing a model into specs: refusals that name the layer and argument, graph features, layer families' own rules."""

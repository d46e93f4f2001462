"""Contracts across stages: the registries every stage dispatches through."""

"""Whole models built from scratch layers."""

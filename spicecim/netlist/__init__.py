"""Netlist generation: specifications in, plain SPICE text out."""

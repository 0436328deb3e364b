"""Simulation: ngspice sessions, column transients, sweeps over executors, Monte Carlo."""

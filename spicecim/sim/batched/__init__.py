"""The batched engine: the column circuits the netlist stage writes, integrated as ngspice
integrates them (Gear-2 on its step schedule, Newton with its convergence test), many columns
at once in JAX. :func:`~spicecim.sim.batched.engine.simulate_columns` returns what
:func:`~spicecim.sim.column.simulate_column` returns."""

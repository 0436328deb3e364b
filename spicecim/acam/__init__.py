"""The 6T2M analog CAM: cell and array netlists (:mod:`~spicecim.acam.netlist`), their
simulated transfer curves (:mod:`~spicecim.acam.transfer`), programming and searches
(:mod:`~spicecim.acam.search`), and ADC-free converters and function maps
(:mod:`~spicecim.acam.converter`)."""

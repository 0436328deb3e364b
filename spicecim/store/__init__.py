"""The run store: the HDF5 layout (:mod:`~spicecim.store.schema`) and its reader and writer
(:mod:`~spicecim.store.hdf5`). A leaf of the package: it imports no simulator."""

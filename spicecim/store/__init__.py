"""The run store: the HDF5 layout (:mod:`~spicecim.store.schema`), its reader and writer
(:mod:`~spicecim.store.hdf5`), and the one atomic file writer every output goes through
(:mod:`~spicecim.store.files`, stdlib only, so any layer may use it). A leaf of the package:
it imports no simulator."""

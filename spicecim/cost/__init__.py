"""Cost: a model mapped onto tiles, layer schedules from the run tables, co-simulation plans
(every tile with its own weights and activations) and design points."""

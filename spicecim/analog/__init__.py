"""The analog forward: a model's products on programmed crossbars (quantisation, programming
error, read noise, IR drop, DAC/ADC, bit slices and copies, IR-aware programming) and
noise-aware fine-tuning through them."""

"""Post-training in simulation: RL on the stochastic denoising chain, rejection sampling, preferences."""

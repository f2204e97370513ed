"""The Hy-VLA model family: vision encoder, MoT backbone, action expert, composed by config."""

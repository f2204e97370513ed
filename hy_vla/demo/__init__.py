"""`hy-vla demo`: collect scripted Meta-World demonstrations, train one language-conditioned policy, evaluate it."""

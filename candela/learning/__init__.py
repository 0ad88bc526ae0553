"""Machine learning: the autoencoder, training it, and the models it makes."""

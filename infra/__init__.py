"""CDK constructs of the Monay Wallets stack, one module per concern."""

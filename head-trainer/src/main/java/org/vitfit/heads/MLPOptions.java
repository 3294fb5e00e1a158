package org.vitfit.heads;

/**
 * Hyper-parameters of the MLP head; the defaults are {@link #defaults()}.
 *
 * @param hiddenSize         width of each hidden layer
 * @param hiddenLayers       1 or 2
 * @param activation         hidden non-linearity
 * @param dropout            dropout probability after each hidden layer, in [0, 1)
 * @param learningRate       AdamW step size
 * @param weightDecay        AdamW decoupled weight decay
 * @param epochs             maximum passes over the training data
 * @param minibatchSize      examples per step
 * @param patience           epochs without validation improvement before stopping (0: never stop early)
 * @param validationFraction hold-out share used when the caller gives no validation set
 * @param seed               random seed
 */
public record MLPOptions(int hiddenSize, int hiddenLayers, Activation activation, float dropout, double learningRate,
                         double weightDecay, int epochs, int minibatchSize, int patience, double validationFraction,
                         long seed) {

    public MLPOptions {
        require(hiddenSize >= 1, "hiddenSize must be >= 1, got " + hiddenSize);
        require(hiddenLayers == 1 || hiddenLayers == 2, "hiddenLayers must be 1 or 2, got " + hiddenLayers);
        require(activation != null, "activation must be GELU or RELU");
        require(dropout >= 0 && dropout < 1, "dropout must be in [0, 1), got " + dropout);
        require(learningRate > 0 && Double.isFinite(learningRate), "learningRate must be > 0, got " + learningRate);
        require(weightDecay >= 0 && Double.isFinite(weightDecay), "weightDecay must be >= 0, got " + weightDecay);
        require(epochs >= 1, "epochs must be >= 1, got " + epochs);
        require(minibatchSize >= 1, "minibatchSize must be >= 1, got " + minibatchSize);
        require(patience >= 0, "patience must be >= 0, got " + patience);
        require(validationFraction >= 0 && validationFraction < 1,
                "validationFraction must be in [0, 1), got " + validationFraction);
    }

    public static MLPOptions defaults() {
        return new MLPOptions(512, 1, Activation.GELU, 0.1f, 1e-3, 1e-2, 100, 128, 8, 0.1, 1L);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }
}

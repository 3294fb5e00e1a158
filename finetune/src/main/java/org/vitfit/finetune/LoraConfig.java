package org.vitfit.finetune;

import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Low-rank adapters (LoRA, Hu et al. 2021, as Hugging Face PEFT builds them): on each chosen linear layer of the
 * trainable blocks the frozen weight W [in, out] gets a trainable update {@code (alpha / rank) · A · B} with
 * A [in, rank] drawn like PEFT's {@code kaiming_uniform_(a = sqrt 5)} (uniform in ±1/√in) and B [rank, out] zero,
 * so training starts from exactly the pretrained model. Biases, norms and the base weights stay frozen (PEFT's
 * {@code bias="none"}); the classifier trains in full (PEFT's {@code modules_to_save}). The written model has the
 * adapters merged into W.
 *
 * @param rank    r, at least 1
 * @param alpha   PEFT's {@code lora_alpha}; the update is scaled by alpha / rank
 * @param targets which linear layers of a block get adapters
 */
public record LoraConfig(int rank, double alpha, Set<Target> targets) {

    /** The linear layers of a ViT block, named as timm names them. */
    public enum Target {
        QKV("attn.qkv"), PROJ("attn.proj"), FC1("mlp.fc1"), FC2("mlp.fc2");

        private final String layer;

        Target(String layer) {
            this.layer = layer;
        }

        /** The layer's name inside a block ({@code attn.qkv}). */
        public String layer() {
            return layer;
        }

        public String optionName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public LoraConfig {
        if (rank < 1) {
            throw new IllegalArgumentException("--lora-rank must be at least 1, got " + rank);
        }
        if (!(alpha > 0) || Double.isInfinite(alpha)) {
            throw new IllegalArgumentException("--lora-alpha must be a positive number, got " + alpha);
        }
        if (targets == null || targets.isEmpty()) {
            throw new IllegalArgumentException("--lora-targets must name at least one of qkv, proj, fc1, fc2");
        }
        targets = Set.copyOf(EnumSet.copyOf(targets));
    }

    /** PEFT's scaling of the low-rank update. */
    public double scaling() {
        return alpha / rank;
    }

    /** {@code qkv,proj,fc1,fc2} (any subset, any order, case-insensitive) into targets, with a message for a typo. */
    public static Set<Target> parseTargets(String list) {
        EnumSet<Target> out = EnumSet.noneOf(Target.class);
        for (String part : list.split(",")) {
            String p = part.trim().toLowerCase(Locale.ROOT);
            if (p.isEmpty()) {
                continue;
            }
            Target t = null;
            for (Target c : Target.values()) {
                if (c.optionName().equals(p)) {
                    t = c;
                }
            }
            if (t == null) {
                throw new IllegalArgumentException("--lora-targets: unknown layer '" + part.trim()
                        + "'; choose among qkv, proj, fc1, fc2 (comma-separated)");
            }
            out.add(t);
        }
        return out;
    }

    /** The targets as the option spells them, in block order. */
    public String targetList() {
        return EnumSet.copyOf(targets).stream().map(Target::optionName).collect(Collectors.joining(","));
    }
}

package org.vitfit.hub;

import java.util.regex.Pattern;

/**
 * A model repository and revision, parsed from {@code org/name[@revision]}; the revision defaults to {@code main}.
 *
 * @param repoId   {@code org/name}, or a legacy single-segment name
 * @param revision a branch, tag, {@code refs/pr/N} or a 40-hex commit
 */
record RepoRef(String repoId, String revision) {

    static final String DEFAULT_REVISION = "main";

    // The Hub's own rule for repo ids: word characters, '-' and '.', no "--" or "..", at most 96 per part.
    private static final Pattern REPO_ID = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,95})?");
    private static final Pattern REVISION = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_./-]{0,255}");
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");

    static RepoRef parse(String text) {
        int at = text.lastIndexOf('@');
        String repoId = at < 0 ? text : text.substring(0, at);
        String revision = at < 0 ? DEFAULT_REVISION : text.substring(at + 1);
        if (!REPO_ID.matcher(repoId).matches() || repoId.contains("--") || repoId.contains("..")) {
            throw new IllegalArgumentException("'" + text + "' is not a Hub model id; expected org/name or"
                    + " org/name@revision, e.g. google/vit-base-patch16-224@main");
        }
        if (!REVISION.matcher(revision).matches() || revision.contains("..") || revision.contains("//")
                || revision.endsWith("/")) {
            throw new IllegalArgumentException("'" + revision + "' in '" + text + "' is not a revision; expected a"
                    + " branch, tag or commit, e.g. main or a 40-character commit hash");
        }
        return new RepoRef(repoId, revision);
    }

    static boolean isCommit(String revision) {
        return COMMIT.matcher(revision).matches();
    }

    /** The cache folder name, as huggingface_hub names it. */
    String cacheFolderName() {
        return "models--" + repoId.replace("/", "--");
    }

    @Override
    public String toString() {
        return repoId + "@" + revision;
    }
}

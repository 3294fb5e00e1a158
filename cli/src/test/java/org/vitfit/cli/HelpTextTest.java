package org.vitfit.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every command's {@code --help}: it fits 120 columns, and the first description line (what the parent's command
 * list shows) is a whole sentence rather than the start of one cut at the line end.
 */
class HelpTextTest {

    private static void collect(CommandLine cl, List<CommandLine> out) {
        out.add(cl);
        cl.getSubcommands().values().forEach(sub -> {
            if (!sub.getCommandName().equals("help")) {
                collect(sub, out);
            }
        });
    }

    @Test
    void everyHelpFitsAndSummarisesInOneSentence() {
        List<CommandLine> all = new ArrayList<>();
        collect(VitfitCli.commandLine(), all);
        assertTrue(all.size() >= 10, "vitfit and its subcommands: " + all.size());
        for (CommandLine cl : all) {
            String name = cl.getCommandSpec().qualifiedName();
            String[] description = cl.getCommandSpec().usageMessage().description();
            assertTrue(description.length > 0 && description[0].endsWith("."),
                    name + ": the first description line is shown alone in the command list, so it must be a "
                            + "whole sentence: '" + (description.length > 0 ? description[0] : "") + "'");
            String[] args = (name.replace("vitfit", "").trim() + " --help").trim().split(" ");
            CliRun run = CliRun.vitfit(args);
            assertEquals(0, run.exit(), name + " --help: " + run.err());
            for (String line : run.out().split("\n")) {
                assertTrue(line.length() <= 120, name + " --help has a line over 120 columns: " + line);
            }
        }
    }
}

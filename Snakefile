# Shim so that `snakemake` works from the repository root; the workflow lives in workflow/.
include: "workflow/Snakefile"


# Rules of an included file are never the default target, so name it here.
rule default:
    default_target: True
    input:
        rules.all.input,

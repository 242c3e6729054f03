# The settings file of each stage job (see SETTINGS and settings_file in common.smk).


rule stage_settings:
    output:
        f"{RESULTS}/settings/{{stage}}/{{name}}.json",
    log:
        f"{RESULTS}/logs/settings/{{stage}}/{{name}}.log",
    wildcard_constraints:
        stage="[a-z_]+",
        name="[A-Za-z0-9_.-]+",
    localrule: True
    params:
        values=lambda wc: SETTINGS[wc.stage](wc.name),
    run:
        write_settings(params.values, output[0])

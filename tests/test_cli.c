// The command: --help, --version, exit codes for unknown verbs.
#include <string.h>

#include "helpers.h"

TestSuite(cli);

static char dir[64];
static void setup(void) { make_tmpdir(dir, sizeof dir); }
static void teardown(void) { rm_tree(dir); }

Test(cli, help_lists_verbs_and_exits_0, .init = setup, .fini = teardown) {
    cr_assert_eq(run_cli("--help", dir), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    char *out = read_text(path);
    cr_assert(out && strstr(out, "Usage: mechlab"), "help text: %s", out ? out : "(none)");
    free(out);
}

Test(cli, version_prints_version, .init = setup, .fini = teardown) {
    cr_assert_eq(run_cli("--version", dir), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    char *out = read_text(path);
    cr_assert(out && !strncmp(out, "mechlab ", 8));
    free(out);
}

Test(cli, unknown_verb_is_usage_error, .init = setup, .fini = teardown) {
    cr_assert_eq(run_cli("frobnicate", dir), 2);
    cr_assert_eq(run_cli("", dir), 2);
}

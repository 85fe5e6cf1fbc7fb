/* cmd_pack.c: `t2v golden-pack` (docs/VERIFY.md). */
#include "cli.h"
int cmd_golden_pack(int argc, char **argv, App *app) {
    (void)argc, (void)argv, (void)app;
    return usage_error("%s", "golden-pack: not built yet");
}

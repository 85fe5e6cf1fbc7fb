/*
 * cmd_keygen.c: `t2v keygen`, a local certificate chain for the outputs'
 * C2PA manifests (sign.h, docs/OUTPUTS.md).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sign.h"

int cmd_keygen(int argc, char **argv, App *app) {
    (void)app;
    const char *dir = NULL;
    char def[4096];
    int force = 0;
    for (int i = 0; i < argc; i++) {
        if (is_help_opt(argv[i])) return command_help("keygen");
        if (!strcmp(argv[i], "--force")) force = 1;
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
        else {
            static const char *const vals[] = {"--dir", NULL};
            return bad_option("keygen", argv[i], vals);
        }
    }
    if (dir && !*dir) return usage_error("%s", "keygen: --dir is empty");
    T2vError e = {0, {0}};
    if (!c2pa_available()) {
        t2v_fail(&e, T2V_EUSAGE, "this t2v was built without C2PA support (make C2PA=0)");
        return die(&e);
    }
    if (!dir) {
        if (sign_config_dir(def, sizeof def)) return usage_error("%s", "keygen: neither XDG_CONFIG_HOME nor HOME is set; give --dir");
        dir = def;
    }
    if (sign_keygen(dir, force, &e)) return die(&e);
    printf("%s/%s  signing certificate + root (give with --sign-cert)\n%s/%s  private key, mode 0600 "
           "(--sign-key)\n%s/%s  the root alone\n", dir, SIGN_CHAIN_FILE, dir, SIGN_KEY_FILE, dir, SIGN_ROOT_FILE);
    printf("a local chain: manifests signed with it are valid, but no trust list knows the root, so C2PA "
           "readers call the signer untrusted (docs/OUTPUTS.md)\n");
    return 0;
}


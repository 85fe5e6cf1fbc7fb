/*
 * sign.h: Content Credentials in the command line (docs/OUTPUTS.md): which
 * key signs a run's outputs, `t2v keygen`, and what `t2v info` says about
 * a file's C2PA manifest. The manifests themselves: ref/lib/c2pa.h.
 */
#ifndef T2V_SIGN_H
#define T2V_SIGN_H

#include <stdio.h>

#include "t2v.h"

/* The local chain's files in the user's configuration directory. */
#define SIGN_CHAIN_FILE "c2pa-chain.pem"
#define SIGN_KEY_FILE "c2pa-key.pem"
#define SIGN_ROOT_FILE "c2pa-root.pem"

/* $XDG_CONFIG_HOME/t2v, else $HOME/.config/t2v. -1 when neither is set. */
int sign_config_dir(char *out, size_t n);

/* The signer of a run: cert/key from the options, else $T2V_SIGN_CERT and
 * $T2V_SIGN_KEY, else the local chain in sign_config_dir (made now, with a
 * note on stderr, when missing). *on = 0 with no_sign, or in a build
 * without C2PA when nothing was asked for (then a note unless quiet). */
int sign_resolve(C2paSigner *s, int *on, const char *cert, const char *key, int no_sign, int quiet,
                 T2vError *err);

/* A new local chain in dir (created, with its parent, mode 0700):
 * SIGN_CHAIN_FILE, SIGN_KEY_FILE, SIGN_ROOT_FILE. Refuses to replace a key
 * without force. */
int sign_keygen(const char *dir, int force, T2vError *err);

/* The C2PA part of `t2v info FILE`: kind 'p' PNG, 'm' MP4, 'y' Y4M (its
 * OUT.c2pa sidecar), 's' a .c2pa sidecar (its OUT.y4m). Prints the verdict
 * and the manifest; *invalid = 1 when a manifest is there and fails. */
int sign_info(const char *path, int kind, FILE *out, int *invalid, T2vError *err);

#endif

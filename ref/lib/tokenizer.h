/*
 * tokenizer.h: the umT5 SentencePiece unigram tokenizer (docs/MODEL.md 5.3).
 *
 * Reads a SentencePiece `.model` file (a protobuf ModelProto) directly and
 * produces exactly the ids of the SentencePiece library (v0.1.97 checked):
 * the normalizer with its precompiled charsmap (a darts-clone double-array
 * trie), add_dummy_prefix / remove_extra_whitespaces / escape_whitespaces,
 * invalid UTF-8 handling, Viterbi over piece scores, unknown merging,
 * byte_fallback and user-defined symbols. docs/TOKENIZER.md has the details
 * and what differs from the official (Hugging Face + ftfy) pipeline.
 *
 * A loaded Tokenizer is read-only: encode from any number of threads.
 */
#ifndef T2V_TOKENIZER_H
#define T2V_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

/* ModelProto.SentencePiece.Type */
enum { SP_NORMAL = 1, SP_UNKNOWN = 2, SP_CONTROL = 3, SP_USER_DEFINED = 4, SP_UNUSED = 5, SP_BYTE = 6 };

/* One node of the piece trie: children are contiguous, sorted by label. */
typedef struct {
    int32_t piece;       /* id of the piece ending here, -1 if none   */
    uint32_t child;      /* index of the first child                  */
    uint16_t n_child;    /* number of children (<= 256)               */
    uint8_t label;       /* byte on the edge from the parent          */
} TkNode;

typedef struct {
    /* ModelProto.pieces */
    int n_pieces;
    char *strings;          /* all pieces, each NUL-terminated           */
    uint32_t *piece_off;    /* (n_pieces) offset into strings            */
    uint32_t *piece_len;    /* (n_pieces)                                */
    float *score;           /* (n_pieces)                                */
    uint8_t *type;          /* (n_pieces) SP_*                           */
    /* TrainerSpec */
    int model_type;         /* 1 = UNIGRAM (the only one supported)      */
    int byte_fallback, treat_whitespace_as_suffix;
    int eos_id;             /* trainer_spec.eos_id (-1 when disabled)    */
    /* NormalizerSpec */
    int add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
    uint32_t *charsmap;     /* darts-clone units (NULL: no charsmap)     */
    size_t charsmap_n;
    char *charsmap_norm;    /* NUL-separated replacement strings         */
    size_t charsmap_norm_n;
    /* Derived */
    int unk_id, has_user_defined;
    int byte_id[256];       /* id of <0xNN> (PieceToId)                  */
    float min_score, max_score;
    TkNode *nodes;          /* trie over NORMAL/USER_DEFINED/UNUSED pieces */
    int n_nodes;
    char name[256];         /* file name for messages                    */
} Tokenizer;

/* Loads a .model file (or bytes in memory; name is used in messages).
 * A malformed model is refused with a message naming the file and field. */
int tokenizer_load(Tokenizer *tk, const char *path, T2vError *err);
int tokenizer_load_mem(Tokenizer *tk, const void *data, size_t n, const char *name, T2vError *err);
void tokenizer_free(Tokenizer *tk);

/* SentencePiece EncodeAsIds of text[0..len) (any bytes). *ids is malloc'ed
 * (caller frees; may be NULL when *n == 0). */
int tokenizer_encode(const Tokenizer *tk, const char *text, size_t len, int32_t **ids, int *n,
                     T2vError *err);
/* Wan2.1 conventions (docs/MODEL.md 5.3): clean the prompt (html unescape
 * twice, strip, collapse whitespace runs; see docs/TOKENIZER.md), encode,
 * keep at most text_len-1 pieces and append EOS. text is NUL-terminated. */
int tokenizer_encode_wan(const Tokenizer *tk, const char *text, int text_len, int32_t **ids,
                         int *n, T2vError *err);
/* The cleaning step alone (malloc'ed, NUL-terminated). */
int tokenizer_clean_wan(const char *text, size_t len, char **out, size_t *out_len, T2vError *err);

const char *tokenizer_piece(const Tokenizer *tk, int id); /* NULL when out of range */
int tokenizer_vocab_size(const Tokenizer *tk);

#endif

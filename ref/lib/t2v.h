/*
 * t2v.h: the library's public interface, the one header the app includes.
 *
 *   tensor, platform       Tensor, errors, arenas; files, threads, clocks
 *   json, sha256           config parsing and writing; file hashes
 *   safetensors, pth       validated, non-executing weight readers
 *   ops                    every kernel and every widening rule
 *   tokenizer, t5          prompt -> ids -> context
 *   dit                    latent + time + context -> velocity
 *   sampler                schedules and pure step functions
 *   vae                    latent <-> frames; owns the latent's geometry
 *   model                  one loader: a model directory -> one Model
 *   pipeline               the generation loop (pipeline_sample) and the whole run
 *   cbor, jumbf, c2pa      Content Credentials: signed C2PA manifests (docs/OUTPUTS.md)
 */
#ifndef T2V_T2V_H
#define T2V_T2V_H

#include "tensor.h"
#include "platform.h"
#include "json.h"
#include "sha256.h"
#include "safetensors.h"
#include "pth.h"
#include "gguf.h"
#include "quant.h"
#include "ops.h"
#include "gemm_bf16.h"
#include "tokenizer.h"
#include "t5.h"
#include "dit.h"
#include "sampler.h"
#include "vae.h"
#include "model.h"
#include "pipeline.h"
#include "cbor.h"
#include "jumbf.h"
#include "c2pa.h"

#endif

"""GPU check: every CUDA path measured in one run, each figure written with its unit and goal.

    scripts/gpu_check.sh OUT_DIR [--cpu]          # chooses torch, runs the CUDA tests, then:
    python -m sec_assets.benchmarks.gpu --out OUT_DIR [--cpu] [--junit OUT_DIR/cuda_tests.xml]

On one GPU (sizes given for an H200; the whole script fits in under 8 minutes) it measures

- CLAP (bf16, the product's ``embed_precision``): clips/s of the bare forward at the batch the
  product picks (:func:`sec_assets.core.features.clap.gpu_batch_size`, from free memory) and of
  the ``clap_embeddings`` step end to end, as the step is configured (``embed_batch_size``
  segments read per batch) and with the read batch equal to the forward batch; their ratios
  (goal ≥ 0.9); the fraction of the GPU's dense bf16 peak reached (``GFLOP_PER_CLIP`` × clips/s
  ÷ peak TFLOP/s, goal ≥ 30 %); the cosine of fp32 and bf16 vectors to the CPU's;
- GPU utilisation and memory sampled by ``GpuSampler`` (nvidia-smi) during the embedding step;
- the n-octave filterbank at 1/3 and 1/24 octave on the GPU vs the CPU path (clips/s, speed-up,
  largest level difference);
- labelling a long recording (the inbox's path) on the GPU: the real-time factor.

``--cpu`` runs the same code paths on the CPU with a few clips; a figure that needs a GPU is then
null with the reason, never estimated. Results: ``OUT_DIR/gpu.json`` and ``OUT_DIR/gpu.md``.
"""

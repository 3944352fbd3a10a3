"""`CompletionSFTTrainer`: TRL's SFTTrainer with the LM head run only where the loss is.

TRL 1.16 computes the loss with a fused, chunked LM head. On CUDA (Triton) it scores only the positions that
carry a label; on CPU its torch fallback scores *every* position, in fp32, and also computes the entropy and
top-1 of each -- for prompt-completion data most positions are prompt, so most of that work is thrown away.
Measured on 2 CPU cores (SmolLM2 LM head, 547 tokens, 347 with loss): TRL 5.3 s per fwd+bwd, this 1.0 s.

Here the backbone runs as usual and `logits_to_keep` (a transformers model argument) picks the positions
whose next token is a completion token; cross-entropy is summed over them and divided by the number of loss
tokens in the whole accumulated batch (`num_items_in_batch`), exactly TRL's normalisation. The logged
`mean_token_accuracy` and `num_tokens` keep TRL's meaning; `entropy` is not computed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from trl import SFTTrainer

from open_toolace.training.data import IGNORE


class CompletionSFTTrainer(SFTTrainer):
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        shift = labels[:, 1:]  # position t predicts token t+1
        keep = (shift != IGNORE).any(dim=0).nonzero().flatten()  # union over rows of a padded batch
        outputs = model(**inputs, use_cache=False, logits_to_keep=keep)
        targets = shift[:, keep]
        logits = outputs.logits.float()  # bf16 autocast may have made them bf16; the softmax wants fp32
        loss_sum = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE, reduction="sum"
        )
        valid = targets != IGNORE
        n_local = valid.sum()
        denom = num_items_in_batch if num_items_in_batch is not None else n_local
        loss = loss_sum / torch.as_tensor(denom, device=loss_sum.device).clamp(min=1)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            # num_items_in_batch counts every rank's tokens and DDP averages gradients over ranks
            loss = loss * self.accelerator.num_processes

        with torch.no_grad():
            correct = ((logits.argmax(-1) == targets) & valid).sum()
            n_valid = self.accelerator.gather_for_metrics(n_local).sum()
            n_correct = self.accelerator.gather_for_metrics(correct).sum()
            self._metrics[mode]["mean_token_accuracy"].append(
                (n_correct / n_valid).item() if n_valid > 0 else 0.0
            )
            if mode == "train":
                if "attention_mask" in inputs:
                    local_tokens = inputs["attention_mask"].sum()
                else:  # padding-free: one flat row of real tokens
                    local_tokens = torch.tensor(
                        inputs["input_ids"].size(1), device=inputs["input_ids"].device
                    )
                self._total_train_tokens += self.accelerator.gather_for_metrics(local_tokens).sum().item()
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        return (loss, outputs) if return_outputs else loss

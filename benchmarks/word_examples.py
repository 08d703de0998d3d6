"""Which analogies the word explorer's sample model answers right first, over several trainings:
the examples the explorer leads with must come first every time, not in one lucky run.

Usage: .venv/bin/python benchmarks/word_examples.py [--seeds 12]
Trains the sample word model (`SAMPLE_WORD_PARAMS` on gensim's Lee corpus, as `make demo`
does, two workers) once per seed 1..N and asks each analogy as the explorer does
(`most_similar_cosmul`). Printed per analogy: how many trainings answer it right first, and
the first answers.
"""

import argparse

from _shop import django_start

# After the explorer's examples, for comparison: near misses, the example it used to show and
# textbook ones.
TEXTBOOK = [
    ("donald", "rumsfeld", "colin", "powell"),
    ("yasser", "arafat", "ariel", "sharon"),
    ("afghanistan", "taliban", "israel", "sharon"),
    ("man", "woman", "king", "queen"),
    ("israel", "jerusalem", "afghanistan", "kabul"),
    ("israel", "israeli", "afghanistan", "afghan"),
    ("year", "years", "day", "days"),
    ("john", "howard", "ariel", "sharon"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=12)
    args = parser.parse_args()
    django_start()
    from personalization.engine.prod2vec import Prod2VecParams, prod2vec_train
    from personalization.space import SAMPLE_WORD_EXAMPLES
    from personalization.training import SAMPLE_WORD_PARAMS, WordCorpus, word_sample_corpus

    runs = []
    for seed in range(1, args.seeds + 1):
        params = Prod2VecParams.from_dict({**SAMPLE_WORD_PARAMS, "seed": seed})
        runs.append(prod2vec_train(WordCorpus(word_sample_corpus()), params).vectors)
    for a, b, c, answer in [*SAMPLE_WORD_EXAMPLES.analogies, *TEXTBOOK]:
        if any(word not in runs[0].key_to_index for word in (a, b, c)):
            print(f"{a} : {b} :: {c} : ?  not in the vocabulary")
            continue
        firsts = [v.most_similar_cosmul(positive=[b, c], negative=[a], topn=1)[0][0] for v in runs]
        right = sum(first == answer for first in firsts)
        print(f"{a} : {b} :: {c} : ? ({answer})  right {right}/{len(runs)}  {', '.join(firsts)}")
    near = SAMPLE_WORD_EXAMPLES.neighbours_of
    print(f"near {near!r}: {', '.join(w for w, _ in runs[0].most_similar(near, topn=6))}")
    print(f"near 'shoes': {', '.join(w for w, _ in runs[0].most_similar('shoes', topn=6))}")


if __name__ == "__main__":
    main()

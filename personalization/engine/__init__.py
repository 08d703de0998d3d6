"""The science, without Django: prod2vec training, the session recommender, search re-ranking,
offline evaluation, the map's projection and the `sessions.txt` parser. Plain Python and NumPy
over lists of SKUs, so every part runs (and is tested) without a database or settings; the
Django layers above pass in what the settings say."""

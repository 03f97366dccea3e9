"""`python -m attention_lab.docgen`: write the generated documents."""

from attention_lab.docgen import ROOT, documents

for path, text in documents().items():
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}")

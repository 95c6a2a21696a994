#!/bin/sh
# Render what people see to PNG pages, to look at by eye after a change to a layout:
# the template, a synced demo workbook (with its review tab) and each review export.
# Needs LibreOffice (soffice) and poppler (pdftoppm). Usage: scripts/render.sh [OUT]
set -eu
root=$(pwd)
out=${1:-build/render}
bin=${BIN:-$root/.venv/bin}
case $out in /*) ;; *) out=$root/$out ;; esac
for tool in soffice pdftoppm; do
    command -v "$tool" >/dev/null || { echo "render: $tool not found" >&2; exit 1; }
done
rm -rf "$out"
mkdir -p "$out/work" "$out/pdf"
work=$out/work

cp "$root/sheet_template.xlsx" "$work/template.xlsx"
(
    cd "$work"
    "$bin/sheets-escalation" demo >/dev/null
    for kind in xlsx html md csv pdf; do
        "$bin/sheets-escalation" review escalations-demo.xlsx --month 2026-11 \
            --now 2026-11-25T15:00 --no-tab --export "review.$kind" >/dev/null
    done
    "$bin/sheets-escalation" review escalations-demo.xlsx --month 2026-11 \
        --now 2026-11-25T15:00 >/dev/null
    # One PDF per file name: LibreOffice names its output after the input.
    cp review.xlsx review-xlsx.xlsx
    cp review.html review-html.html
    cp review.md review-md.txt
    cp review.csv review-csv.csv
)

# A private LibreOffice profile: other LibreOffice processes keep theirs. Only Calc is
# needed: HTML and text (one line per row, split on tabs only) open in Calc too.
profile="file://$out/lo-profile"
convert() {
    soffice "-env:UserInstallation=$profile" --headless --convert-to pdf \
        --outdir "$out/pdf" "$@" >/dev/null 2>&1 || true
    test -f "$out/pdf/$(basename "${last}" | sed 's/\.[^.]*$//').pdf" || {
        echo "render: LibreOffice could not convert ${last}" >&2; exit 1; }
}
for file in template.xlsx escalations-demo.xlsx review-xlsx.xlsx review-csv.csv; do
    last=$file convert "$work/$file"
done
last=review-html.html convert --infilter="HTML (StarCalc)" "$work/review-html.html"
last=review-md.txt convert --infilter="Text - txt - csv (StarCalc):9,34,76,1" \
    "$work/review-md.txt"
cp "$work/review.pdf" "$out/pdf/review-pdf.pdf"

for pdf in "$out"/pdf/*.pdf; do
    name=$(basename "$pdf" .pdf)
    pdftoppm -png -r 60 "$pdf" "$out/$name"
done
# The staleness indicator as a spreadsheet program computes it, stale and fresh.
"$bin/python" "$root/scripts/render_staleness.py" "$out/staleness" >/dev/null
echo "rendered $(ls "$out"/*.png "$out"/staleness/*.png | wc -l) pages to $out"

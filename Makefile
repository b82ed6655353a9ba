# The README's two commands: `make demo` and `make test`. Each sets up what it needs.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEBS := snmpd snmp iperf3 nftables iproute2 prometheus chromium chromium-driver prometheus-alertmanager fping iputils-ping prometheus-snmp-exporter
# The CLI's languages (issue 19): tests/test_cli_locale.py runs under these LANGs.
LOCALES := sv_SE.UTF-8 pl_PL.UTF-8

.PHONY: demo test lint deps system-deps bench clean i18n

# pypnm-docsis is the PNM oracle of tests/test_pnm.py, installed without its
# dependencies: it pins exact versions (pysnmp 7.1.17, requests, numpy, scipy,
# pandas, fastapi...) that would downgrade ours, and the modules the test uses
# need only numpy and pydantic, which the test extra brings.
# setup.py and the .pyx too: pip install -e builds probes/snmp/_ber_fast and
# probes/_ping_fast from them.
$(STAMP): pyproject.toml setup.py probes/snmp/_ber_fast.pyx probes/_ping_fast.pyx
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q --no-deps 'pypnm-docsis==1.6.4.0'
	touch $(STAMP)

deps: $(STAMP)

# Debian packages for real peers; only possible (and only attempted) as root.
system-deps:
	@if [ "$$(id -u)" = 0 ]; then \
	  missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null || \
	      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; }; \
	  fi; \
	  gen=""; for l in $(LOCALES); do \
	    locale -a 2>/dev/null | grep -qix "$$(echo $$l | sed 's/UTF-8/utf8/')" || gen="$$gen $$l"; done; \
	  if [ -n "$$gen" ]; then \
	    echo "generating locales:$$gen"; \
	    for l in $$gen; do grep -qx "$$l UTF-8" /etc/locale.gen || echo "$$l UTF-8" >> /etc/locale.gen; done; \
	    locale-gen >/dev/null; \
	  fi; \
	else echo "not root: skipping Debian packages ($(DEBS)) and locales ($(LOCALES)); tests needing them will skip"; fi

demo: deps system-deps
	$(VENV)/bin/linewatch demo $(ARGS)

test: deps system-deps
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -ra $(ARGS)

lint: deps
	$(VENV)/bin/ruff check .

# Re-extract the UI messages and merge them into the sv/pl catalogs; then
# translate what is new (tests/test_i18n_catalogs.py lists what is missing).
I18N := collector/i18n
i18n: deps
	$(VENV)/bin/pybabel -q extract -F babel.cfg --no-location --sort-output \
	  -k N_ -k ngettext:1,2 -o $(I18N)/linewatch.pot .
	$(VENV)/bin/pybabel -q update -i $(I18N)/linewatch.pot -d $(I18N)/locale -D linewatch \
	  --no-fuzzy-matching --ignore-obsolete

bench: deps system-deps
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

# Developer tasks. Run them with the project's virtualenv (.venv, see README) or set PYTHON.
PYTHON ?= $(shell test -x .venv/bin/python && echo .venv/bin/python || echo python3)
MYPY_TREE := build/mypy
PACKAGES := domain commands eventlog backups projections http ops imports webhooks

.PHONY: lint fmt mypy test test-unit test-integration test-e2e test-browser

lint: mypy
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

fmt:
	$(PYTHON) -m ruff check --fix .
	$(PYTHON) -m ruff format .

# mypy cannot follow the editable install's package-dir mapping, so it checks a tree of
# symlinks shaped like the installed package (build/mypy/timetracker/<folder> -> <folder>),
# from inside that tree so that the repository's own http/ never shadows anything.
mypy:
	mkdir -p $(MYPY_TREE)/timetracker
	for pkg in $(PACKAGES); do ln -sfn ../../../$$pkg $(MYPY_TREE)/timetracker/$$pkg; done
	python="$$(command -v $(PYTHON))"; case "$$python" in /*) ;; *) python="$(CURDIR)/$$python";; esac; \
	cd $(MYPY_TREE) && MYPYPATH=$(CURDIR)/$(MYPY_TREE) "$$python" -m mypy \
		--config-file $(CURDIR)/pyproject.toml --namespace-packages --explicit-package-bases \
		-p timetracker

test:
	$(PYTHON) -m pytest

test-unit:
	$(PYTHON) -m pytest -m "not integration and not e2e and not browser"

test-integration:
	$(PYTHON) -m pytest -m integration

test-e2e:
	$(PYTHON) -m pytest -m e2e

test-browser:
	$(PYTHON) -m pytest -m browser

# nginx-helpdesk — build, run, test, bench.
#
#   make          build build/ngx_http_helpdesk_module.so
#   make run      build, start the local stack (PostgreSQL, Redis, nginx) with a demo tenant
#   make stop     stop what `make run` started
#   make test     build and run the whole test suite
#   make lint-openapi  lint docs/api/openapi.yaml (Redocly, installed into build/)
#   make migrate  apply pending migrations to the local stack's database
#   make bench    benchmarks (not part of `make test`)
#   make memcheck the API tests with nginx under valgrind
#   make deps     install missing Debian packages (as root) or print the apt-get line

NGINX_SRC   ?= /usr/share/nginx/src
BUILD       := $(CURDIR)/build
OBJDIR      := $(BUILD)/nginx
MODULE      := $(BUILD)/ngx_http_helpdesk_module.so
CC_OPT      := -g -O2 -fPIC -Wall -Wextra -Wno-unused-parameter \
               -Wno-missing-field-initializers -Werror
SOURCES     := $(shell find src -name '*.[ch]' 2>/dev/null) src/www/ngx_helpdesk_www.c
WWW         := $(shell find src/www -type f ! -name '*.[ch]' 2>/dev/null)
TOOLS       := src/tools

.PHONY: all deps run stop test lint-openapi memcheck migrate bench clean

all: $(MODULE)

deps:
	@$(TOOLS)/deps.sh

$(OBJDIR)/.configured: config $(NGINX_SRC)/configure
	rm -rf $(OBJDIR) && mkdir -p $(BUILD)
	cp -a $(NGINX_SRC) $(OBJDIR)
	cd $(OBJDIR) && bash -c 'if [ -f conf_flags ]; then . ./conf_flags; \
	    else NGX_CONF_FLAGS=(--with-compat --with-threads --with-http_ssl_module); fi; \
	    ./configure "$${NGX_CONF_FLAGS[@]}" --with-cc-opt="$(CC_OPT)" \
	    --add-dynamic-module=$(CURDIR)' > $(BUILD)/configure.log 2>&1 || \
	  { tail -30 $(BUILD)/configure.log; exit 1; }
	touch $@

src/www/ngx_helpdesk_www.c: $(WWW) src/tools/embed.pl
	perl src/tools/embed.pl src/www $@

$(MODULE): $(OBJDIR)/.configured $(SOURCES)
	$(MAKE) -s -C $(OBJDIR) -f objs/Makefile modules
	cp $(OBJDIR)/objs/ngx_http_helpdesk_module.so $@.tmp && mv -f $@.tmp $@

run: deps $(MODULE)
	@$(TOOLS)/devstack.sh run

stop:
	@$(TOOLS)/devstack.sh stop

migrate:
	@$(TOOLS)/devstack.sh migrate

test: deps $(MODULE)
	prove -r -I t/lib t/

# also t/openapi.t, in `make test`
lint-openapi:
	@$(TOOLS)/openapi-lint.sh

# timing-sensitive tests (nonblocking, reload, the browser) are left out:
# valgrind is slow
memcheck: deps $(MODULE)
	HELPDESK_VALGRIND=1 prove -I t/lib t/api_tickets.t t/api_errors.t \
	    t/api_provider.t t/idempotency.t t/outage.t t/rls.t t/webhooks.t \
	    t/whatsapp_inbound.t t/whatsapp_outbound.t t/whatsapp_media.t \
	    t/whatsapp_qr.t t/business_hours.t t/portal.t t/portal_kb.t t/console.t \
	    t/lifetime.t

bench: deps $(MODULE)
	@perl t/bench/run.pl

clean:
	rm -rf $(BUILD)

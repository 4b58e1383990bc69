# nginx-helpdesk — build, run, test, bench.
#
#   make          build build/ngx_http_helpdesk_module.so
#   make run      build, start the local stack (PostgreSQL, Redis, nginx) with a demo tenant
#   make stop     stop what `make run` started
#   make test     build and run the whole test suite
#   make lint-openapi  lint docs/api/openapi.yaml (Redocly, installed into build/)
#   make migrate  apply pending migrations to the local stack's database
#   make rotate-secrets  a new key for the local stack's secrets at rest, every
#                 secret re-encrypted under it, the old key removed
#   make bench    benchmarks (not part of `make test`)
#   make memcheck the API tests with nginx under valgrind
#   make asan     the test suite against nginx and the module built with ASan+UBSan
#   make fuzz     libFuzzer targets (t/fuzz), FUZZ_SECONDS (60) each
#   make unit     the C unit tests of src/lib (t/unit), with ASan and UBSan
#   make deps     install missing Debian packages (as root) or print the apt-get line

NGINX_SRC   ?= /usr/share/nginx/src
BUILD       := $(CURDIR)/build
OBJDIR      := $(BUILD)/nginx
MODULE      := $(BUILD)/ngx_http_helpdesk_module.so
CC_OPT      := -g -O2 -fPIC -Wall -Wextra -Wno-unused-parameter \
               -Wno-missing-field-initializers -Werror
SOURCES     := $(shell find src -name '*.[ch]' 2>/dev/null) src/www/ngx_helpdesk_www.c \
               src/chat/ngx_http_helpdesk_chat_lua.c
WWW         := $(shell find src/www -type f ! -name '*.[ch]' 2>/dev/null)
TOOLS       := src/tools

.PHONY: all deps run stop test lint-openapi memcheck migrate bench clean \
        rotate-secrets \
        asan fuzz fuzz-build unit unit-build dns-client-build

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

src/chat/ngx_http_helpdesk_chat_lua.c: src/chat/ngx_http_helpdesk_chat.lua src/tools/embed_lua.pl
	perl src/tools/embed_lua.pl $< $@ ngx_http_helpdesk_chat_lua

$(MODULE): $(OBJDIR)/.configured $(SOURCES)
	$(MAKE) -s -C $(OBJDIR) -f objs/Makefile modules
	cp $(OBJDIR)/objs/ngx_http_helpdesk_module.so $@.tmp && mv -f $@.tmp $@

run: deps $(MODULE)
	@$(TOOLS)/devstack.sh run

stop:
	@$(TOOLS)/devstack.sh stop

migrate:
	@$(TOOLS)/devstack.sh migrate

rotate-secrets:
	@$(TOOLS)/devstack.sh rotate

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
	    t/lifetime.t t/chat_ws.t t/chat_sse.t t/chat_hostile.t t/chat_files.t \
	    t/chat_protocol.t t/chat_api.t t/chat_groups.t t/chat_resume.t \
	    t/chat_harden.t t/email_out.t t/email_inbound.t t/email_replies.t \
	    t/email_imap_hostile.t t/email_oauth.t t/email_sender.t t/api_uploads.t \
	    t/tls_serving.t

# The sanitizer builds compile nginx itself: its full source, from Debian's
# source package, configured as Debian's (nginx-dev's conf_flags).
NGINX_FULL  := $(BUILD)/nginx-full

$(NGINX_FULL)/configure:
	@mkdir -p $(BUILD)
	$(TOOLS)/nginx-src.sh $(NGINX_FULL)

# A tree of its own for each sanitizer build: $(1) the directory, $(2)
# configure arguments (compiler and options).  Configure's test programs
# must not fail on LeakSanitizer.
define configure_tree
	rm -rf $(1) && mkdir -p $(BUILD)
	cp -a $(NGINX_FULL) $(1)
	cd $(1) && ASAN_OPTIONS=detect_leaks=0 bash -c \
	    'if [ -f $(NGINX_SRC)/conf_flags ]; then . $(NGINX_SRC)/conf_flags; \
	    else NGX_CONF_FLAGS=(--with-compat --with-threads --with-http_ssl_module); fi; \
	    ./configure "$${NGX_CONF_FLAGS[@]}" --with-debug $(2) \
	    --add-dynamic-module=$(CURDIR)' > $(1).configure.log 2>&1 || \
	  { tail -30 $(1).configure.log; exit 1; }
	touch $(1)/.configured
endef

# make asan: nginx itself and the module with AddressSanitizer and UBSan
# (the module only loads into an nginx built the same way), every pool block
# a malloc of its own (NGX_DEBUG_PALLOC), and the suite run against them.
# A sanitizer report (written under the test's log directory, or in the
# error log) or a worker that exited with an error fails the test file.
# Leaks are not checked: nginx's master and workers exit without freeing
# their cycle, by design.  Every test runs, the timing-sensitive ones
# (nonblocking, reload, the browsers) too: they pass at ASan's speed.  Only
# t/fuzz.t is left out: its targets carry their own sanitizers.
ASAN_DIR    := $(BUILD)/asan
ASAN_NGINX  := $(ASAN_DIR)/objs/nginx
ASAN_MODULE := $(ASAN_DIR)/objs/ngx_http_helpdesk_module.so
SAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer
ASAN_TESTS  := $(filter-out t/fuzz.t,$(wildcard t/*.t))
# The module's ngx_module_names is a global of the same name as nginx's: the
# way dynamic modules are, not an ODR violation to report.  UBSan reports
# (under gcc, on stderr: the error log) stop the process; t/ubsan.supp lists
# what is nginx's own.
ASAN_OPTS   := halt_on_error=1:detect_leaks=0:detect_odr_violation=0
UBSAN_OPTS  := halt_on_error=1:print_stacktrace=1:suppressions=$(CURDIR)/t/ubsan.supp

$(ASAN_DIR)/.configured: config $(NGINX_FULL)/configure
	$(call configure_tree,$(ASAN_DIR),\
	    --with-cc-opt="$(CC_OPT) $(SAN_FLAGS) -DNGX_DEBUG_PALLOC=1" \
	    --with-ld-opt="$(SAN_FLAGS)")

$(ASAN_NGINX): $(ASAN_DIR)/.configured $(SOURCES)
	$(MAKE) -s -C $(ASAN_DIR) -f objs/Makefile binary modules

asan: deps $(ASAN_NGINX)
	HELPDESK_NGINX=$(ASAN_NGINX) HELPDESK_MODULE=$(ASAN_MODULE) \
	ASAN_OPTIONS=$(ASAN_OPTS) UBSAN_OPTIONS=$(UBSAN_OPTS) \
	    prove -I t/lib $(ASAN_TESTS)

# make fuzz: libFuzzer targets (t/fuzz/<target>.c, seeds in
# t/fuzz/corpus/<target>/) linked with nginx and the module, all compiled by
# clang with ASan and UBSan.  Each runs FUZZ_SECONDS; new inputs go to
# build/fuzz/corpus/, crashes to build/fuzz/crash/.  t/fuzz.t (in make
# test) runs each briefly.  (nginx's clang options add
# -Wconditional-uninitialized, which misreads a few of the module's
# branches.)
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_TARGETS := $(basename $(notdir $(wildcard t/fuzz/*.c)))
FUZZ_BINS    := $(addprefix $(FUZZ_DIR)/bin/,$(FUZZ_TARGETS))
FUZZ_SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer
FUZZ_SECONDS ?= 60
FUZZ_INCS    := $(addprefix -I $(FUZZ_DIR)/,src/core src/event \
                src/event/modules src/os/unix objs src/http src/http/modules \
                src/http/v2) -I $(CURDIR)/src -I /usr/include/postgresql \
                $(shell pkg-config --cflags gmime-3.0 2>/dev/null)
FUZZ_LIBS    := -lpq -lhiredis -ljansson -lcurl -lqrencode -lcmark \
                -lpthread -lcrypt -lpcre2-8 -lssl -lcrypto -lz -lidn2 \
                $(shell pkg-config --libs gmime-3.0 2>/dev/null)

$(FUZZ_DIR)/.configured: config $(NGINX_FULL)/configure
	$(call configure_tree,$(FUZZ_DIR),--with-cc=clang \
	    --with-cc-opt="$(CC_OPT) $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	        -DNGX_DEBUG_PALLOC=1 -Wno-conditional-uninitialized" \
	    --with-ld-opt="$(FUZZ_SAN)")

# a stamp, not objs/nginx: a change to the module's sources leaves nginx
# itself as it was, and the targets must still be linked again
$(FUZZ_DIR)/.built: $(FUZZ_DIR)/.configured $(SOURCES)
	$(MAKE) -s -C $(FUZZ_DIR) -f objs/Makefile binary modules
	touch $@

# nginx's objects (nginx.o's main() renamed: libFuzzer has the main) and the
# module's
$(FUZZ_DIR)/nginx_nomain.o: $(FUZZ_DIR)/.built
	objcopy --redefine-sym main=ngx_nginx_main \
	    $(FUZZ_DIR)/objs/src/core/nginx.o $@

$(FUZZ_DIR)/bin/%: t/fuzz/%.c t/fuzz/ngx_fuzz.h $(FUZZ_DIR)/nginx_nomain.o
	@mkdir -p $(@D)
	clang $(CC_OPT) $(FUZZ_SAN) -fsanitize=fuzzer -DNGX_DEBUG_PALLOC=1 \
	    $(FUZZ_INCS) -o $@ $< $(FUZZ_DIR)/nginx_nomain.o \
	    $$(find $(FUZZ_DIR)/objs/src $(FUZZ_DIR)/objs/addon -name '*.o' \
	       ! -path '*/src/core/nginx.o') $(FUZZ_DIR)/objs/ngx_modules.o \
	    $(FUZZ_LIBS)

fuzz-build: deps $(FUZZ_BINS)

fuzz: fuzz-build
	@rc=0; for t in $(FUZZ_TARGETS); do \
	    t/fuzz/run.sh $(FUZZ_DIR) $$t $(FUZZ_SECONDS) || rc=1; \
	done; exit $$rc

# make unit: the C unit tests of src/lib, t/unit/<file>.c for
# src/lib/ngx_helpdesk_<file>.c, each a program printing TAP that prove
# runs.  They are compiled like the fuzz targets (the module's warnings,
# ASan and UBSan, the fuzz tree's nginx objects) but linked with src/lib's
# objects only: what src/lib needs of the module, it must not have.
# t/unit.t (in make test) runs them.
UNIT_DIR     := $(BUILD)/unit
UNIT_TESTS   := $(basename $(notdir $(wildcard t/unit/*.c)))
UNIT_BINS    := $(addprefix $(UNIT_DIR)/,$(UNIT_TESTS))
UNIT_ENV     := ASAN_OPTIONS=detect_leaks=1 \
                UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$(CURDIR)/t/ubsan.supp

$(UNIT_DIR)/%: t/unit/%.c t/unit/ngx_unit.h $(FUZZ_DIR)/nginx_nomain.o
	@mkdir -p $(@D)
	clang $(CC_OPT) $(FUZZ_SAN) -DNGX_DEBUG_PALLOC=1 $(FUZZ_INCS) \
	    -o $@ $< $(FUZZ_DIR)/nginx_nomain.o \
	    $$(find $(FUZZ_DIR)/objs/src -name '*.o' \
	       ! -path '*/src/core/nginx.o') $(FUZZ_DIR)/objs/ngx_modules.o \
	    $(FUZZ_DIR)/objs/addon/lib/*.o $(FUZZ_LIBS)

unit-build: deps $(UNIT_BINS)

# the DNS client on nginx's event loop, outside nginx (t/dns_client.t runs
# it against real and hostile servers): compiled like the unit tests,
# linked with the client's object besides src/lib's
DNS_RUN      := $(BUILD)/dns/dns_client_run

$(DNS_RUN): t/dns/dns_client_run.c t/unit/ngx_unit.h $(FUZZ_DIR)/nginx_nomain.o
	@mkdir -p $(@D)
	clang $(CC_OPT) $(FUZZ_SAN) -DNGX_DEBUG_PALLOC=1 $(FUZZ_INCS) \
	    -o $@ $< $(FUZZ_DIR)/nginx_nomain.o \
	    $$(find $(FUZZ_DIR)/objs/src -name '*.o' \
	       ! -path '*/src/core/nginx.o') $(FUZZ_DIR)/objs/ngx_modules.o \
	    $(FUZZ_DIR)/objs/addon/lib/*.o \
	    $(FUZZ_DIR)/objs/addon/event/ngx_helpdesk_dns_client.o $(FUZZ_LIBS)

dns-client-build: deps $(DNS_RUN)

unit: unit-build
	$(UNIT_ENV) prove --exec '' $(UNIT_BINS)

# the chat relay's load generator (t/bench/chat_relay.pl runs it)
BENCH_GEN   := $(BUILD)/bench/chat_relay_gen

$(BENCH_GEN): t/bench/chat_relay_gen.c
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -Wextra -Wno-unused-parameter -Werror -o $@ $< -lhiredis

# the mail parser's time per MB (t/bench/email.pl runs it): linked with
# the parser's objects as they were built for the module, and nginx's
# ngx_string.c, all the parser takes of nginx (its unused functions left
# out by the linker)
BENCH_MIME  := $(BUILD)/bench/mime_parse
BENCH_MIME_OBJS := $(addprefix $(OBJDIR)/objs/addon/,email/ngx_helpdesk_mime.o \
                   email/ngx_helpdesk_mime_raw.o email/ngx_helpdesk_mime_text.o \
                   email/ngx_helpdesk_mime_trim.o lib/ngx_helpdesk_magic.o)
BENCH_INCS  := $(addprefix -I $(OBJDIR)/,src/core src/event src/event/modules \
               src/os/unix objs) -I $(CURDIR)/src \
               $(shell pkg-config --cflags gmime-3.0 2>/dev/null)

$(BUILD)/bench/ngx_string.o: $(NGINX_FULL)/configure $(MODULE)
	@mkdir -p $(@D)
	$(CC) $(CC_OPT) -ffunction-sections -fdata-sections $(BENCH_INCS) \
	    -c $(NGINX_FULL)/src/core/ngx_string.c -o $@

$(BENCH_MIME): t/bench/mime_parse.c $(MODULE) $(BUILD)/bench/ngx_string.o
	$(CC) $(CC_OPT) $(BENCH_INCS) -o $@ $< $(BENCH_MIME_OBJS) \
	    $(BUILD)/bench/ngx_string.o -Wl,--gc-sections \
	    $$(pkg-config --libs gmime-3.0) -ljansson -lcrypto

# the TLS handshake client (t/bench/tls.pl runs it)
BENCH_TLS   := $(BUILD)/bench/tls_handshake

$(BENCH_TLS): t/bench/tls_handshake.c
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -Wextra -Wno-unused-parameter -Werror -o $@ $< -lssl -lcrypto

bench: deps $(MODULE) $(BENCH_GEN) $(BENCH_MIME) $(BENCH_TLS)
	@perl t/bench/run.pl

clean:
	rm -rf $(BUILD)

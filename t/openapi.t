#!/usr/bin/perl
# docs/api/openapi.yaml: it lints clean under Redocly's recommended rules,
# and it documents exactly the operations of the module's route tables
# (the REST API's, the portal's and the console's).  That the answers
# match it is checked by every test that calls the API (Helpdesk::OpenAPI).

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use Test::More;
use YAML::XS qw(LoadFile);

my $top = abs_path(dirname(__FILE__) . '/..');
my $spec = LoadFile("$top/docs/api/openapi.yaml");

# --- the route tables against the spec's paths ------------------------------

sub slurp { open my $fh, '<', $_[0] or die "$_[0]: $!"; local $/; <$fh> }

# "/v1/tickets/*/comments" -> "/v1/tickets/{}/comments"
sub shape { my $p = shift; $p =~ s/\{[^}]+\}/{}/g; $p =~ s{(?<=/)\*(?=/|$)}{{}}g; $p }

my %code;    # "METHOD shape" => where
for my $file (glob "$top/src/api/*.c") {
    my $c = slurp($file);
    my %ops;
    while ($c =~ /ngx_http_helpdesk_api_op_t\s+(\w+)\[\]\s*=\s*\{(.*?)\n\};/sg) {
        my ($name, $body) = ($1, $2);
        $ops{$name} = [ $body =~ /\{\s*NGX_HTTP_(GET|POST|PUT|PATCH|DELETE)\b/g ];
    }
    while ($c =~ /\{\s*"(\/v1\/[^"]*)",\s*(\w+)\s*\}/g) {
        my ($path, $table) = ($1, $2);
        ok $ops{$table}, "$path: its operations ($table) are found" or next;
        $code{"$_ " . shape($path)} = $file =~ s{.*/}{}r for @{ $ops{$table} };
    }
}
# mail pushed in: a location of its own under the API's prefix
$code{'POST ' . shape('/v1/email/inbound/{token}')} = 'ngx_http_helpdesk_email_inbound.c'
    if slurp("$top/src/email/ngx_http_helpdesk_email_inbound.c") =~ /helpdesk_email_inbound/;
for my $app (['ngx_http_helpdesk_portal.c', '/_/api'],
             ['ngx_http_helpdesk_console.c', '/agent/_/api']) {
    my ($file, $prefix) = @$app;
    my $c = slurp("$top/src/app/$file");
    my $n = 0;
    while ($c =~ /\{\s*NGX_HTTP_(GET|POST|PUT|PATCH|DELETE),\s*\d{3},\s*"(\/[^"]*)"/g) {
        $code{"$1 " . shape("$prefix$2")} = $file;
        $n++;
    }
    ok $n > 10, "$file: its operation table is read ($n operations)";
}
ok keys %code > 100, 'the route tables are read (' . scalar(keys %code) . ' operations)';

my %doc;
for my $path (keys %{ $spec->{paths} }) {
    for my $m (qw(get post put patch delete)) {
        $doc{uc($m) . ' ' . shape($path)} = $spec->{paths}{$path}{$m}{operationId}
            if $spec->{paths}{$path}{$m};
    }
}

my @undocumented = sort grep { !exists $doc{$_} } keys %code;
is_deeply \@undocumented, [], 'every operation of the route tables is documented'
    or diag map { "  $_ ($code{$_})\n" } @undocumented;
my @stale = sort grep { !exists $code{$_} } keys %doc;
is_deeply \@stale, [], 'every documented operation exists'
    or diag map { "  $_\n" } @stale;

# --- operationIds ------------------------------------------------------------

my %seen;
my @bad = sort grep { !defined $doc{$_} || $doc{$_} !~ /^[a-z][a-zA-Z0-9]*$/
                      || $seen{$doc{$_}}++ } keys %doc;
is_deeply \@bad, [], 'every operation has a unique camelCase operationId'
    or diag map { "  $_: " . ($doc{$_} // 'none') . "\n" } @bad;

# --- Redocly's recommended rules ----------------------------------------------

SKIP: {
    skip 'npm is not installed, so the OpenAPI linter cannot be (make deps installs npm)', 2
        unless system('command -v npm >/dev/null 2>&1') == 0;

    my $out = `$top/src/tools/openapi-lint.sh --format=stylish 2>&1`;
    my $rc = $? >> 8;
    is $rc, 0, 'redocly lint: no errors' or diag $out;
    my @warnings = grep { /^\s*\d+:\d+\s+warning\s/ } split /\n/, $out;
    is_deeply \@warnings, [], 'redocly lint: no warnings' or diag $out;
}

done_testing();

package Helpdesk::OpenAPI;

# Checks every response of the REST API that a test receives against
# docs/api/openapi.yaml, so that the documentation cannot drift from the
# code: the status must be one the operation documents, the Content-Type
# one of that response's media types, a JSON body must match its schema
# and documented headers theirs.  A mismatch is a failed test naming the
# method, the path, the status and what did not match.
#
#   Helpdesk::OpenAPI->watch($ua);   # every /api/v1/... request of $ua
#
# Only the API (under the test nginx's /api/ prefix) is checked; the
# portal's and the console's own calls are not.  HELPDESK_OPENAPI=0 turns
# the check off.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use JSON::Validator::Schema::OpenAPIv3;
use Mojo::JSON qw(decode_json);
use Mojo::Util qw(url_unescape);
use Test::More ();

my $TOP = abs_path(dirname(__FILE__) . '/../../..');
our $SPEC_FILE = "$TOP/docs/api/openapi.yaml";
our $PREFIX = '/api';           # where the test nginx serves the API

my ($schema, @routes);

sub schema {
    return $schema if $schema;
    $schema = JSON::Validator::Schema::OpenAPIv3->new($SPEC_FILE);
    $schema->coerce({});        # a response is what it is: no coercion
    $schema->resolve;

    # the documented paths as patterns, the most literal segments first
    # (as the module's route tables put /qr.png before /{connection})
    for my $path (keys %{ $schema->get('/paths') }) {
        next unless $path =~ m{^/v1/};
        my @seg = split m{/}, substr($path, 1);
        my $re = join '/', map { /^\{.+\}$/ ? '[^/]+' : quotemeta } @seg;
        my $weight = join '', map { /^\{/ ? 0 : 1 } @seg;
        push @routes, { path => $path, re => qr{^/$re$}, weight => $weight,
                        depth => scalar @seg };
    }
    @routes = sort { $b->{depth} <=> $a->{depth} || $b->{weight} cmp $a->{weight}
                     || $a->{path} cmp $b->{path} } @routes;
    return $schema;
}

sub watch {
    my ($class, $ua) = @_;
    return $ua if defined $ENV{HELPDESK_OPENAPI} && !$ENV{HELPDESK_OPENAPI};
    $ua->on(start => sub {
        my (undef, $tx) = @_;
        $tx->on(finish => sub { $class->check_tx($_[0]) });
    });
    return $ua;
}

# Checks one finished transaction; fails a test if the response is not
# what the specification says.  Returns the list of problems.
sub check_tx {
    my ($class, $tx) = @_;
    my $req = $tx->req;
    my $res = $tx->res;
    return unless defined $res->code;             # no answer at all
    my $path = $req->url->path->to_string;
    return unless $path =~ s{^\Q$PREFIX\E(?=/v1/)}{};

    my @errors = eval { $class->check($req->method, $path, $res) };
    @errors = ("the check died: $@") if $@;
    if (@errors) {
        local $Test::Builder::Level = $Test::Builder::Level + 1;
        my $what = sprintf '%s %s -> %s', $req->method, $req->url->path_query,
                           $res->code;
        Test::More::fail("response matches docs/api/openapi.yaml: $what");
        Test::More::diag(join "\n", "  $what", map({ "    $_" } @errors),
                         '    body: ' . substr($res->body // '', 0, 500));
    }
    return @errors;
}

sub find_route {
    my ($class, $path) = @_;
    $class->schema;
    for my $r (@routes) {
        return $r->{path} if $path =~ $r->{re};
    }
    return undef;
}

# (method, path below the API's base, Mojo::Message::Response) -> errors
sub check {
    my ($class, $method, $path, $res) = @_;
    my $s = $class->schema;
    my $code = $res->code;
    my $template = $class->find_route(url_unescape($path) =~ s{\?.*}{}r);

    # what no operation documents: an unknown path is a 404, a method the
    # path does not have a 405 listing those it has, both problems
    if (!defined $template) {
        return ("no documented path matches, yet the status is $code")
            unless $code == 404;
        return $class->check_problem($res);
    }
    my $m = lc $method;
    my $op = $s->get([paths => $template, $m]);
    if (!$op && $m eq 'head') {
        $op = $s->get([paths => $template, 'get']);
    }
    if (!$op) {
        return ("$method is not documented for $template, yet the status is $code")
            unless $code == 405;
        my @e = $class->check_problem($res);
        push @e, '405 without an Allow header' unless $res->headers->header('Allow');
        return @e;
    }

    my $responses = $op->{responses} || {};
    my $doc = $responses->{$code} // $responses->{substr($code, 0, 1) . 'XX'}
              // $responses->{default};
    return ("status $code is not documented for $method $template (documented: "
            . join(', ', sort keys %$responses) . ')') unless $doc;
    $doc = $s->get([paths => $template, $m, 'responses',
                    exists $responses->{$code} ? "$code"
                    : exists $responses->{substr($code, 0, 1) . 'XX'}
                      ? substr($code, 0, 1) . 'XX' : 'default']);

    my @errors;
    my $where = "$method $template $code";

    # headers: those documented as required are there, every documented
    # one present matches its schema
    for my $name (sort keys %{ $doc->{headers} || {} }) {
        my $h = $s->get([paths => $template, $m, 'responses', "$code", 'headers', $name])
                // $doc->{headers}{$name};
        my $value = $res->headers->header($name);
        if (!defined $value) {
            push @errors, "header $name is required" if $h->{required};
            next;
        }
        next unless $h->{schema};
        my $v = $value;
        my $type = $h->{schema}{type} // '';
        $v = 0 + $v if $type eq 'integer' && $v =~ /^-?\d+$/;
        push @errors, map { "header $name: $_" } $s->validate($v, $h->{schema});
    }

    # the body
    my $content = $doc->{content};
    my $body = $res->body // '';
    my $ctype = lc($res->headers->content_type // '');
    $ctype =~ s/\s*;.*//s;
    if (!$content || !%$content) {
        push @errors, "a body of " . length($body) . " bytes ($ctype) where $where documents none"
            if length $body && $m ne 'head';
        return @errors;
    }
    return @errors if $m eq 'head' || $code == 204 || $code == 304;

    my ($media) = grep { $_ eq $ctype } keys %$content;
    ($media) = grep { m{^([^/]+)/\*$} && index($ctype, "$1/") == 0 } keys %$content
        unless $media;
    ($media) = grep { $_ eq '*/*' } keys %$content unless $media;
    unless ($media) {
        return (@errors, "Content-Type '$ctype' is not one of "
                         . join(', ', sort keys %$content) . " documented for $where");
    }

    my $sch = $content->{$media}{schema};
    return @errors unless $sch && ($ctype =~ m{^application/(?:[\w.+-]+\+)?json$});

    my $data = eval { decode_json($body) };
    return (@errors, "the body is not JSON: $@") if $@;
    push @errors, map { "body$_" } $s->validate($data, $sch);
    return @errors;
}

sub check_problem {
    my ($class, $res) = @_;
    my $s = $class->schema;
    my $ctype = lc($res->headers->content_type // '');
    return ("Content-Type '$ctype', not application/problem+json")
        unless $ctype =~ m{^application/problem\+json\b};
    my $data = eval { decode_json($res->body) };
    return ("the body is not JSON: $@") if $@;
    return map { "body$_" } $s->validate($data, $s->get('/components/schemas/Problem'));
}

1;

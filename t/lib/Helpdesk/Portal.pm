package Helpdesk::Portal;

# A customer's browser on a tenant's portal, for the portal's tests: its
# own cookies, the Host it visits, and the CSRF header a page would send.

use strict;
use warnings;
use Mojo::UserAgent;

sub new {
    my ($class, $t, $host, %opt) = @_;
    # prefix => '/agent' for the agent console
    my $self = bless { t => $t, host => $host, port => $opt{port} // $t->port,
                       prefix => $opt{prefix} // '',
                       ua => Mojo::UserAgent->new(max_redirects => 0) }, $class;
    return $self;
}

sub ua { $_[0]{ua} }
sub url { my ($self, $path) = @_; "http://127.0.0.1:$self->{port}$path" }

sub cookie {
    my ($self, $name) = @_;
    my ($c) = grep { $_->name eq $name } @{ $self->{ua}->cookie_jar->all };
    return $c ? $c->value : undef;
}

sub set_cookie {
    my ($self, $name, $value) = @_;
    $self->{ua}->cookie_jar->add(Mojo::Cookie::Response->new(
        name => $name, value => $value, domain => '127.0.0.1', path => '/'));
}

# GET a page (or anything), as the browser would
sub get {
    my ($self, $path, %h) = @_;
    return $self->{ua}->get($self->url($path) => { Host => $self->{host}, %h })->res;
}

# a JSON call of the page: /_/api/..., with the CSRF token on changes
sub api {
    my ($self, $method, $path, $body, %h) = @_;
    $self->get("$self->{prefix}/") unless defined $self->cookie('hd_csrf');
    my %hd = (Host => $self->{host}, Accept => 'application/json', %h);
    $hd{'X-CSRF-Token'} //= $self->cookie('hd_csrf') if $method ne 'GET';
    delete $hd{'X-CSRF-Token'} if defined $hd{'X-CSRF-Token'} && $hd{'X-CSRF-Token'} eq '';
    my $tx = $self->{ua}->build_tx($method => $self->url("$self->{prefix}/_/api$path") => \%hd
                                   => (defined $body ? (ref $body ? (json => $body) : $body) : ()));
    return $self->{ua}->start($tx)->res;
}

sub upload {
    my ($self, $name, $type, $data, %h) = @_;
    $self->get("$self->{prefix}/") unless defined $self->cookie('hd_csrf');
    my $tx = $self->{ua}->build_tx(POST => $self->url("$self->{prefix}/_/api/uploads") => {
        Host => $self->{host}, 'Content-Type' => $type, 'X-Filename' => $name,
        'X-CSRF-Token' => $self->cookie('hd_csrf'), %h } => $data);
    return $self->{ua}->start($tx)->res;
}

sub signup {
    my ($self, $email, $password, $name) = @_;
    return $self->api(POST => '/signup', { email => $email, password => $password,
                                           name => $name // 'Customer' });
}

sub login {
    my ($self, $email, $password) = @_;
    return $self->api(POST => '/login', { email => $email, password => $password });
}

1;

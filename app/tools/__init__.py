"""Tools beside the service: the sample-bucket generator (``seed``), the object inspector's command and the
terminal progress bar. The service's core (``app/`` outside this package) never imports from here."""

"""What every site image adds around the site: the release header, health check, publishing."""
